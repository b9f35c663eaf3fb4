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
    """A 5 L bench bioreactor (2 L start) with one pitched-blade impeller and a microsparger.

    Aeration rates are in vvm of the initial working volume, the volume the gas
    mass-flow controller is sized for; the airflow in L/min is ``vvm * initial_volume``.
    """

    initial_volume: float = 2.0  # L at inoculation
    max_volume: float = 4.0  # L: 80 % of a 5 L vessel, room to double the starting volume
    total_volume: float = 5.0  # L, the vessel's nominal size
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
    # Time constant of the jacket loop: a healthy bench loop reaches its set point within ~20 min.
    thermal_time_constant_h: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.initial_volume < self.max_volume <= self.total_volume:
            raise ValueError(
                f"volumes must satisfy 0 < initial ({self.initial_volume:g} L) < max ({self.max_volume:g} L)"
                f" <= total ({self.total_volume:g} L)"
            )
        if not 0 < self.impeller_diameter < self.vessel_diameter:
            raise ValueError("the impeller must be narrower than the vessel")
        if not 0 <= self.agitation_min < self.agitation_max:
            raise ValueError("agitation range must satisfy 0 <= min < max")
        if not 0 < self.airflow_min_vvm < self.airflow_max_vvm:
            raise ValueError("airflow range must satisfy 0 < min < max (vvm)")
        if self.thermal_time_constant_h <= 0:
            raise ValueError("thermal_time_constant_h must be positive")

    @property
    def airflow_max(self) -> float:
        """Full scale of the air mass-flow controller, L/min."""
        return self.airflow_max_vvm * self.initial_volume


@dataclass(frozen=True, slots=True)
class Control:
    """Set points and controller settings."""

    do_setpoint: float = 40.0  # % air saturation (domain notes: 30-50 %)
    ph_setpoint: float = 7.0
    ph_deadband: float = 0.05
    temperature: float = 37.0  # °C
    shift_temperature: float = 33.0  # °C
    # Culture hours within which a batch's temperature shift falls (domain notes: day 4-7).
    shift_window_h: tuple[float, float] = (96.0, 144.0)
    base_concentration: float = 1000.0  # mM NaHCO3-equivalent (1 M)
    base_max_rate: float = 6.0  # mL/h
    max_co2_fraction: float = 0.10
    # A concentrated feed (glucose stocks of 250-450 g/L are common) keeps a 30e6 cells/mL culture
    # from filling the vessel before harvest.
    feed_glucose_g_per_l: float = 250.0
    feed_glutamine: float = 100.0  # mM
    max_feed_rate: float = 12.0  # mL/h

    def __post_init__(self) -> None:
        low, high = self.shift_window_h
        if not 0 <= low <= high:
            raise ValueError(f"shift_window_h must be (earliest, latest) culture hours, got {self.shift_window_h}")
        if self.ph_deadband < 0 or self.base_max_rate <= 0 or self.max_feed_rate <= 0:
            raise ValueError("pH deadband must be >= 0 and pump maxima positive")
        if self.feed_glucose_g_per_l <= 0:
            raise ValueError("feed_glucose_g_per_l must be positive")

    @property
    def feed_glucose(self) -> float:
        """Glucose in the feed concentrate, mM."""
        return self.feed_glucose_g_per_l / GLUCOSE_G_PER_MMOL

    @property
    def shift_midpoint_h(self) -> float:
        """The middle of the shift window: when a batch without its own shift time shifts."""
        low, high = self.shift_window_h
        return (low + high) / 2.0


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
