"""The culture itself: cells, metabolites, oxygen, CO2/bicarbonate and product.

:class:`CultureState` holds one numpy array per state variable, one element
per simulated batch, and :meth:`CultureState.advance` integrates one explicit
Euler step. The step is kept at a minute or less because the DO loop settles in
minutes (domain notes), while the biology changes over hours.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.parameters import (
    CO2_MM_PER_MMHG,
    PKA_BICARBONATE,
    Control,
    InitialCulture,
    Kinetics,
    Vessel,
)

FloatArray = NDArray[np.float64]

WATER_DENSITY = 1000.0  # kg/m3
# Contamination: a fast-growing bacterium (doubling ~45 min, domain notes: "< 1 h") whose
# load is expressed in units whose oxygen demand equals that of 1e6 CHO cells/mL.
BACTERIA_MU = 0.9  # 1/h
BACTERIA_CAPACITY = 40.0
BACTERIA_Q_GLC = 0.8  # mM/h per unit
BACTERIA_Q_O2 = 0.1  # mM/h per unit (= q_o2 x 1e9 cells/L of CHO)
BACTERIA_ACID = 1.0  # mM acid (acetate) per mM glucose consumed


@dataclass(frozen=True, slots=True)
class Actuation:
    """What the controllers and pumps deliver during a step (arrays, one per batch)."""

    agitation: FloatArray  # rpm, actual impeller speed
    airflow: FloatArray  # L/min
    co2_fraction: FloatArray  # of the sparged gas
    base_rate: FloatArray  # mL/h actually pumped
    feed_rate: FloatArray  # mL/h actually pumped
    temperature_drift: FloatArray  # °C/h forced by a failed controller, 0 when healthy
    kla_factor: FloatArray  # 1 = healthy sparger


@dataclass(slots=True)
class CultureState:
    """The true state of every batch; concentrations in mM, cells in 1e6 cells/mL."""

    viable: FloatArray
    dead: FloatArray
    glucose: FloatArray
    glutamine: FloatArray
    lactate: FloatArray
    ammonia: FloatArray
    bicarbonate: FloatArray
    co2: FloatArray
    oxygen: FloatArray
    temperature: FloatArray
    volume: FloatArray
    titer: FloatArray  # g/L
    bacteria: FloatArray
    # cumulative glucose fed and consumed (mmol), for mass balances
    glucose_fed: FloatArray
    glucose_consumed: FloatArray
    # per-batch biological variability (multipliers of the nominal kinetics)
    mu_factor: FloatArray
    q_o2_factor: FloatArray
    q_product_factor: FloatArray

    @classmethod
    def initial(
        cls,
        start: list[InitialCulture],
        vessel: Vessel,
        *,
        temperature: float,
        mu_factor: FloatArray,
        q_o2_factor: FloatArray,
        q_product_factor: FloatArray,
    ) -> CultureState:
        def arr(name: str) -> FloatArray:
            return np.array([getattr(s, name) for s in start], dtype=np.float64)

        viable = arr("vcd")
        viability = arr("viability") / 100.0
        n = len(start)
        co2 = np.full(n, CO2_MM_PER_MMHG * vessel.headspace_pco2)
        return cls(
            viable=viable,
            dead=viable * (1.0 - viability) / viability,
            glucose=arr("glucose"),
            glutamine=arr("glutamine"),
            lactate=arr("lactate"),
            ammonia=arr("ammonia"),
            bicarbonate=arr("bicarbonate"),
            co2=co2,
            oxygen=np.full(n, vessel.o2_saturation_37c),
            temperature=np.full(n, temperature),
            volume=np.full(n, vessel.initial_volume),
            titer=np.zeros(n),
            bacteria=np.zeros(n),
            glucose_fed=np.zeros(n),
            glucose_consumed=np.zeros(n),
            mu_factor=mu_factor,
            q_o2_factor=q_o2_factor,
            q_product_factor=q_product_factor,
        )

    def copy_from(self, target: NDArray[np.int64], source: NDArray[np.int64]) -> None:
        """Copy batch columns ``source`` onto ``target`` (used to seed fault-free twins)."""
        for name in self.__slots__:
            getattr(self, name)[target] = getattr(self, name)[source]

    @property
    def ph(self) -> FloatArray:
        """Henderson-Hasselbalch on the bicarbonate buffer."""
        return PKA_BICARBONATE + np.log10(np.maximum(self.bicarbonate, 0.1) / np.maximum(self.co2, 1e-3))

    @property
    def viability(self) -> FloatArray:
        return 100.0 * self.viable / (self.viable + self.dead)

    def o2_saturation(self) -> FloatArray:
        """O2 solubility at air saturation: ~1.3 % higher per °C cooler than 37 °C."""
        return 0.2 * (1.0 + 0.013 * (37.0 - self.temperature))

    def do_percent(self) -> FloatArray:
        return 100.0 * self.oxygen / self.o2_saturation()

    def advance(
        self,
        act: Actuation,
        dt: float,
        temperature_setpoint: FloatArray,
        *,
        kin: Kinetics,
        vessel: Vessel,
        control: Control,
    ) -> None:
        """One explicit Euler step of ``dt`` hours."""
        # Temperature: a healthy jacket loop approaches its set point with the vessel's time constant.
        failed = act.temperature_drift != 0.0
        relax = (temperature_setpoint - self.temperature) * (1.0 - np.exp(-dt / vessel.thermal_time_constant_h))
        self.temperature = np.minimum(
            np.maximum(np.where(failed, self.temperature + act.temperature_drift * dt, self.temperature + relax), 20.0),
            42.0,
        )
        t = self.temperature
        glc, gln, lac, amm = self.glucose, self.glutamine, self.lactate, self.ammonia
        o2_limit = self.oxygen / (self.oxygen + 0.001)  # K_O2 ~1 uM: hypoxia only below ~1 % DO
        # Acidic medium throttles glycolysis and growth (below ~pH 6.7), so an uncontrolled
        # culture settles near pH 6.4-6.6 instead of acidifying without bound.
        acid_brake = 1.0 / (1.0 + np.exp((6.7 - self.ph) / 0.08))

        # Growth: Monod on glucose and glutamine, inhibited by lactate and ammonia (Xing 2010);
        # ~65 % slower at 33 °C, the usual purpose of a temperature shift.
        f_temp = np.exp(-(((t - 37.0) / 3.9) ** 2))
        mu = (
            kin.mu_max
            * self.mu_factor
            * acid_brake
            * f_temp
            * o2_limit
            * glc
            / (kin.k_glc + glc)
            * gln
            / (kin.k_gln + gln)
            * kin.ki_lac
            / (kin.ki_lac + lac)
            * kin.ki_amm
            / (kin.ki_amm + amm)
        )
        kd = (
            kin.kd_max * (0.03 + (amm / (kin.kd_amm + amm)) ** 3 + 0.5 * (lac / (kin.kd_lac + lac)) ** 2)
            + kin.kd_starvation * kin.k_starvation / (kin.k_starvation + glc)
            + 0.02 * np.maximum(t - 38.5, 0.0)
            + 0.05 * (1.0 - o2_limit)
            + 0.06 * self.bacteria / (self.bacteria + 3.0)
        )
        xv = self.viable
        cells = xv * 1e9  # cells/L
        feed_l_h = act.feed_rate / 1000.0
        base_l_h = act.base_rate / 1000.0
        dilution = (feed_l_h + base_l_h) / self.volume

        growth_glc = mu / kin.y_x_glc * cells
        q_glc = growth_glc + kin.m_glc * cells * glc / (glc + 1.0)
        q_gln = mu / kin.y_x_gln * cells
        overflow = glc / (glc + kin.k_overflow) * np.clip(1.0 - 0.17 * (37.0 - t), 0.3, 1.0)
        lac_made = kin.y_lac_glc * growth_glc * overflow * acid_brake
        lac_used = kin.q_lac_consumption * cells * lac / (lac + kin.k_lac_consumption) * (1.0 - overflow)
        bact = self.bacteria
        bact_growth = BACTERIA_MU * glc / (glc + 0.5) * (1.0 - bact / BACTERIA_CAPACITY) * bact
        bact_glc = BACTERIA_Q_GLC * bact * glc / (glc + 0.5)
        our = kin.q_o2 * self.q_o2_factor * cells * o2_limit + BACTERIA_Q_O2 * bact * o2_limit

        kla = self.kla(act, vessel)
        c_star = self.o2_saturation()
        co2_gas = CO2_MM_PER_MMHG * (vessel.headspace_pco2 + act.co2_fraction * 760.0)
        acid = lac_made - lac_used + BACTERIA_ACID * bact_glc
        ammonia_made = kin.y_amm_gln * q_gln + kin.k_gln_degradation * gln

        self.viable = np.maximum(xv + dt * (mu - kd - dilution) * xv, 1e-6)
        self.dead = np.maximum(self.dead + dt * (kd * xv - (kin.k_lysis + dilution) * self.dead), 0.0)
        # Uptake cannot exceed what is there: limiting it keeps the glucose balance exact.
        consumed = np.minimum((q_glc + bact_glc) * dt, glc)
        fed = feed_l_h * control.feed_glucose * dt  # mmol
        self.glucose_fed = self.glucose_fed + fed
        self.glucose_consumed = self.glucose_consumed + consumed * self.volume
        volume_after = self.volume + dt * (feed_l_h + base_l_h)
        self.glucose = (glc * self.volume - consumed * self.volume + fed) / volume_after
        self.glutamine = np.maximum(
            gln
            + dt
            * (-q_gln - kin.k_gln_degradation * gln + feed_l_h * control.feed_glutamine / self.volume - dilution * gln),
            0.0,
        )
        self.lactate = np.maximum(lac + dt * (lac_made - lac_used - dilution * lac), 0.0)
        self.ammonia = np.maximum(amm + dt * (ammonia_made - dilution * amm), 0.0)
        # Lactic acid and bacterial acids consume bicarbonate and release CO2; ammonia
        # and added base restore it (NH3 + H+ -> NH4+).
        self.bicarbonate = np.maximum(
            self.bicarbonate
            + dt
            * (
                -acid + ammonia_made + base_l_h * control.base_concentration / self.volume - dilution * self.bicarbonate
            ),
            0.05,
        )
        self.co2 = np.maximum(
            self.co2 + dt * (kin.respiratory_quotient * our + acid - 0.89 * kla * (self.co2 - co2_gas)), 1e-3
        )
        self.oxygen = np.maximum(self.oxygen + dt * (kla * (c_star - self.oxygen) - our), 0.0)
        self.titer = self.titer + dt * (
            kin.q_product * self.q_product_factor * cells * np.clip(1.0 + 0.12 * (37.0 - t), 0.7, 1.6)
            - dilution * self.titer
        )
        self.bacteria = bact + dt * (bact_growth - dilution * bact)
        self.volume = volume_after

    def kla(self, act: Actuation, vessel: Vessel) -> FloatArray:
        """Van 't Riet correlation kLa = a (P/V)^b v_s^c, in 1/h."""
        n_rps = act.agitation / 60.0
        power = vessel.power_number * WATER_DENSITY * n_rps**3 * vessel.impeller_diameter**5
        # +1 W/m3: rising bubbles still mix a little when the impeller stops.
        power_per_volume = power / (self.volume / 1000.0) + 1.0
        area = np.pi * vessel.vessel_diameter**2 / 4.0
        superficial_velocity = act.airflow / 1000.0 / 60.0 / area
        kla_s = vessel.kla_a * power_per_volume**vessel.kla_b * superficial_velocity**vessel.kla_c
        return kla_s * 3600.0 * act.kla_factor
