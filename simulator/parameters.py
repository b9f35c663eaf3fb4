"""Parameters of the fed-batch model, with where each number comes from.

Kinetics follow the unstructured Monod model of Xing et al. 2010
(Biotechnol. Prog. 26:208, "Scale-up analysis for a CHO cell culture process").
Where the project deviates from the paper (maintenance, lactate yield applied to
growth-associated uptake only) the reason is given beside the value.

Internal units: cells in 1e9 cells/L (= 1e6 cells/mL), metabolites in mM,
time in hours, volume in L.
"""

from __future__ import annotations

from dataclasses import dataclass

GLUCOSE_G_PER_MMOL = 0.18016  # 180.16 g/mol
LACTATE_G_PER_MMOL = 0.09008  # 90.08 g/mol
#: mM of dissolved CO2 per mmHg partial pressure at 37 °C (Henry's law, culture medium)
CO2_MM_PER_MMHG = 0.0307
PKA_BICARBONATE = 6.1


@dataclass(frozen=True, slots=True)
class Kinetics:
    """Cell growth, death, uptake and production (Xing et al. 2010 unless noted)."""

    # Xing's 0.029 1/h with its inhibition terms gives ~50 h doubling here; calibrated so the
    # early doubling time is ~18-24 h and the peak 10-20e6 cells/mL (domain notes).
    mu_max: float = 0.055  # 1/h
    kd_max: float = 0.016  # 1/h
    k_glc: float = 0.084  # mM
    k_gln: float = 0.047  # mM
    ki_lac: float = 43.0  # mM
    ki_amm: float = 15.0  # mM; Xing 6.51 caps fed-batch peaks below 10e6 cells/mL here
    kd_lac: float = 45.8  # mM
    kd_amm: float = 6.51  # mM
    y_x_glc: float = 1.69e8  # cells/mmol
    y_x_gln: float = 2.0e9  # cells/mmol; Xing 9.74e8, raised for a low-glutamine fed-batch medium
    y_lac_glc: float = 1.23  # mmol/mmol
    y_amm_gln: float = 0.67  # mmol/mmol
    # Xing's 6.92e-11 mmol/cell/h gives ~10 g/L/day uptake at 20e6 cells/mL; halved to
    # match the 3-6 g/L/day peak uptake of industrial fed-batch processes.
    m_glc: float = 3.5e-11  # mmol/cell/h
    k_gln_degradation: float = 7.2e-3  # 1/h
    # Lactate switch (common extension of Xing's model): production needs plentiful
    # glucose, consumption takes over when glucose is low or after the temperature shift.
    k_overflow: float = 30.0  # mM glucose halving overflow production; gives 2-3.5 g/L lactate peaks
    q_lac_consumption: float = 3.0e-11  # mmol/cell/h at saturating lactate
    k_lac_consumption: float = 5.0  # mM
    # Starvation death when glucose is exhausted (domain notes: < 0.5 g/L = starvation).
    kd_starvation: float = 0.03  # 1/h
    k_starvation: float = 0.3  # mM
    k_lysis: float = 0.02  # 1/h, dead cells lysing (viability 60-80 % at harvest, not 0)
    # Specific productivity ~25 pg/cell/day (typical CHO mAb), raised after a temperature shift.
    q_product: float = 1.05e-12  # g/cell/h
    q_o2: float = 1.0e-10  # mmol/cell/h (domain notes: 0.1-0.3 pmol/cell/h)
    respiratory_quotient: float = 0.9


@dataclass(frozen=True, slots=True)
class Vessel:
    """A 5 L bench bioreactor (2 L start) with one pitched-blade impeller and a microsparger."""

    initial_volume: float = 2.0  # L
    max_volume: float = 4.0  # L: 80 % of a 5 L vessel, room to double the starting volume
    impeller_diameter: float = 0.06  # m
    vessel_diameter: float = 0.13  # m
    power_number: float = 1.5  # pitched blade
    # van 't Riet: kLa = a (P/V)^b v_s^c, coalescing media a=0.026, b=0.4, c=0.5 (SI, 1/s).
    # The microsparger's fine bubbles give ~4x the coarse-bubble kLa at equal power.
    kla_a: float = 0.026 * 4.0
    kla_b: float = 0.4
    kla_c: float = 0.5
    o2_saturation_37c: float = 0.2  # mM at air saturation (domain notes)
    headspace_pco2: float = 36.0  # mmHg: 5 % CO2 overlay at 1 atm
    agitation_min: float = 80.0  # rpm
    agitation_max: float = 250.0  # rpm
    airflow_min_vvm: float = 0.01
    airflow_max_vvm: float = 0.1


@dataclass(frozen=True, slots=True)
class Control:
    """Set points and controller settings."""

    do_setpoint: float = 40.0  # % air saturation (domain notes: 30-50 %)
    ph_setpoint: float = 7.0
    ph_deadband: float = 0.05
    temperature: float = 37.0  # °C
    shift_temperature: float = 33.0  # °C
    base_concentration: float = 1000.0  # mM NaHCO3-equivalent (1 M)
    base_max_rate: float = 6.0  # mL/h
    max_co2_fraction: float = 0.10
    # A concentrated feed (glucose stocks of 250-450 g/L are common) keeps a 30e6 cells/mL culture
    # from filling the vessel before harvest.
    feed_glucose: float = 250.0 / GLUCOSE_G_PER_MMOL  # mM (250 g/L concentrate)
    feed_glutamine: float = 100.0  # mM
    max_feed_rate: float = 12.0  # mL/h


@dataclass(frozen=True, slots=True)
class InitialCulture:
    """Medium and inoculum at time zero."""

    vcd: float = 0.4  # 1e6 cells/mL (domain notes: seed 0.3-0.5)
    viability: float = 97.0  # %
    glucose: float = 6.5 / GLUCOSE_G_PER_MMOL  # mM (6.5 g/L)
    glutamine: float = 6.0  # mM
    lactate: float = 0.2 / LACTATE_G_PER_MMOL  # mM
    ammonia: float = 0.5  # mM
    bicarbonate: float = 14.0  # mM
