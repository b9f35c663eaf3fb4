"""The broth of every simulated batch as numpy columns, and one integration step of its balances.

Balances are kept on amounts (g, mol, kJ) so that feed, evaporation and sampling
change concentrations the way they do in a vessel. Two stiff parts are integrated
so that they stay stable at a one-minute step whatever the process does:

- sugar, with uptake taken proportional to the *new* concentration and the old
  affinities (linearly implicit): sugar never goes negative, and what is fed,
  consumed, withdrawn and left adds up exactly (:attr:`Broth.sugar_fed_g` ...);
- dissolved oxygen, whose transfer (kLa up to several hundred per hour) is solved
  exactly over the step for an uptake linear in the oxygen concentration.

>>> import numpy as np
>>> from simulator.fungal.parameters import Organism, Recipe, Vessel
>>> broth = Broth.start(Recipe(), Vessel(), biomass=np.array([0.5]), sugar=np.array([15.0]))
>>> act = Actuation(rpm=np.array([60.0]), air_nm3_h=np.array([1500.0]), feed_l_h=np.array([0.0]),
...                 base_l_h=np.array([0.0]), acid_l_h=np.array([0.0]), cooling=np.array([0.03]),
...                 coolant_k=np.array([285.0]))
>>> for _ in range(600):  # ten hours of batch growth in one-minute steps
...     broth.advance(act, 1 / 60, Organism(), Vessel(), Recipe())
>>> round(float(broth.biomass[0]), 2), round(float(broth.sugar[0]), 2), round(float(broth.temperature[0]), 1)
(1.13, 13.68, 298.5)
>>> fed, used, left = broth.sugar_fed_g[0], broth.sugar_consumed_g[0], broth.sugar[0] * broth.volume[0]
>>> bool(abs(15.0 * 58_000 + fed - used - left) < 1e-6)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from simulator.fungal.gas import (
    actual_gas_flow,
    evaporation_l_h,
    gassed_power,
    kla,
    log_mean_pressure,
    offgas_co2_percent,
    oxygen_saturation,
)
from simulator.fungal.kinetics import (
    broth_viscosity,
    contaminant_affinity,
    contois_affinity,
    hydrolysis_rate,
    maintenance_affinity,
    oxygen_limitation,
    ph_factor,
    product_affinity,
    product_oxygen_switch,
    temperature_factor,
)
from simulator.fungal.parameters import AIR_CO2_FRACTION, O2_G_PER_MOL, Organism, Recipe, Vessel

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Actuation:
    """What the actuators deliver to each column during one step.

    ``cooling`` is the cooling-water valve's opening (0-1), ``coolant_k`` the
    temperature of the coolant supplied.
    """

    rpm: FloatArray
    air_nm3_h: FloatArray
    feed_l_h: FloatArray
    base_l_h: FloatArray
    acid_l_h: FloatArray
    cooling: FloatArray
    coolant_k: FloatArray


@dataclass
class Broth:
    """State of every column: concentrations in g/L (oxygen mg/L), volume in L, temperature in K.

    ``growth_scale`` and ``product_scale`` are the batch's biological variability
    (multipliers of the maximum rates), constant over a batch. Create it with
    :meth:`start`, which also sets the derived fields.
    """

    volume: FloatArray
    biomass: FloatArray
    sugar: FloatArray
    penicillin: FloatArray
    contaminant: FloatArray
    oxygen: FloatArray
    ph: FloatArray
    temperature: FloatArray
    growth_scale: FloatArray
    product_scale: FloatArray
    #: Sugar ledger (g): everything fed, consumed by cells and taken out with samples.
    sugar_fed_g: FloatArray = field(init=False)
    sugar_consumed_g: FloatArray = field(init=False)
    sugar_withdrawn_g: FloatArray = field(init=False)
    #: Oxygen in equilibrium with the sparged air at the current volume (mg/L).
    saturation: FloatArray = field(init=False)
    #: CO2 in the exhaust gas during the last step (%).
    offgas_co2: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        zeros = np.zeros_like(self.volume)
        self.sugar_fed_g, self.sugar_consumed_g, self.sugar_withdrawn_g = zeros.copy(), zeros.copy(), zeros.copy()
        self.saturation = np.full_like(self.volume, np.nan)
        self.offgas_co2 = zeros.copy()

    @classmethod
    def start(
        cls,
        recipe: Recipe,
        vessel: Vessel,
        *,
        biomass: FloatArray,
        sugar: FloatArray,
        volume: FloatArray | None = None,
        growth_scale: FloatArray | None = None,
        product_scale: FloatArray | None = None,
    ) -> Broth:
        """Freshly inoculated broth at the recipe's set points, saturated with air.

        Parameters
        ----------
        recipe, vessel
            Set points and initial values; the vessel's pressure sets the oxygen saturation.
        biomass, sugar
            Initial concentrations per column (g/L).
        volume
            Initial volume per column (L); default the recipe's.
        growth_scale, product_scale
            The batches' biological variability; default 1.
        """
        ones = np.ones_like(biomass, dtype=np.float64)
        volume = recipe.initial_volume_l * ones if volume is None else np.asarray(volume, dtype=np.float64)
        saturation = oxygen_saturation(log_mean_pressure(volume, vessel))
        broth = cls(
            volume=volume.copy(),
            biomass=np.asarray(biomass, dtype=np.float64).copy(),
            sugar=np.asarray(sugar, dtype=np.float64).copy(),
            penicillin=0.0 * ones,
            contaminant=0.0 * ones,
            oxygen=saturation * recipe.initial_do / 100.0,
            ph=recipe.ph * ones,
            temperature=recipe.temperature_k * ones,
            growth_scale=ones.copy() if growth_scale is None else np.asarray(growth_scale, dtype=np.float64),
            product_scale=ones.copy() if product_scale is None else np.asarray(product_scale, dtype=np.float64),
        )
        broth.saturation = saturation
        broth.offgas_co2 = np.full_like(volume, 100.0 * AIR_CO2_FRACTION)
        return broth

    @property
    def do_percent(self) -> FloatArray:
        """Dissolved oxygen as % of air saturation at the broth's pressure."""
        return np.asarray(100.0 * self.oxygen / self.saturation)

    def withdraw(self, litres: FloatArray) -> None:
        """Take samples out (L per column): the volume falls, concentrations stay."""
        self.sugar_withdrawn_g += self.sugar * litres
        self.volume -= litres

    def inoculate_contaminant(self, load: FloatArray) -> None:
        """Add bacteria (g/L) where ``load`` is positive, as an accidental inoculation does."""
        self.contaminant += load

    def advance(self, act: Actuation, dt: float, org: Organism, vessel: Vessel, recipe: Recipe) -> None:
        """Integrate every balance over one step with the actuation held constant.

        Parameters
        ----------
        act
            What the actuators deliver to each column during the step.
        dt
            Step length (h).
        org, vessel, recipe
            Constants of the process.
        """
        volume, biomass, sugar = self.volume, self.biomass, self.sugar
        pressure = log_mean_pressure(volume, vessel)
        power = gassed_power(act.rpm, act.air_nm3_h, pressure, self.temperature, vessel)
        velocity = actual_gas_flow(act.air_nm3_h, pressure, self.temperature) / vessel.cross_section_m2
        transfer = kla(power, volume, velocity, broth_viscosity(biomass, org))

        # Specific rates per g/L of sugar (see kinetics) with oxygen in excess; the
        # fraction of that demand the cells can meet at the oxygen they see now scales them.
        oxygen_fraction = oxygen_limitation(self.oxygen, org)
        environment = ph_factor(self.ph, org) * temperature_factor(self.temperature, org) * self.growth_scale
        growth_k = org.mu_max * environment * contois_affinity(sugar, biomass, org)
        product_k = (
            org.q_product_max
            * self.product_scale
            * product_oxygen_switch(self.do_percent, org)
            * product_affinity(sugar, org)
        )
        maintenance_k = org.maintenance * maintenance_affinity(sugar, org)
        contaminant_k = org.contaminant_mu_max * contaminant_affinity(sugar, org)
        uptake_k = (
            biomass
            * (
                oxygen_fraction * (growth_k / org.yield_biomass_on_sugar + product_k / org.yield_product_on_sugar)
                + maintenance_k
            )
            + self.contaminant * oxygen_fraction * contaminant_k / org.contaminant_yield
        )

        evaporation = evaporation_l_h(volume, self.temperature, vessel)
        new_volume = volume + (act.feed_l_h + act.base_l_h + act.acid_l_h - evaporation) * dt
        fed = act.feed_l_h * recipe.sugar_feed_g_l * dt
        new_sugar = (sugar * volume + fed) / (new_volume + uptake_k * volume * dt)
        self.sugar_fed_g += fed
        self.sugar_consumed_g += uptake_k * new_sugar * volume * dt

        growth = oxygen_fraction * growth_k * new_sugar  # 1/h
        production = oxygen_fraction * product_k * new_sugar  # g/(g h)
        contaminant_growth = oxygen_fraction * contaminant_k * new_sugar  # 1/h
        # Maintenance the sugar cannot cover is paid with the mycelium's own mass
        # (endogenous respiration; Pirt 1965: decay rate = m_s * Y_xs).
        decay = org.yield_biomass_on_sugar * (org.maintenance - maintenance_k * new_sugar)

        # Oxygen the cells would take up with oxygen in excess, mg/(L h).
        demand = 1000.0 * (
            (org.oxygen_per_biomass * growth_k + org.oxygen_per_product * product_k) * new_sugar * biomass
            + org.oxygen_maintenance * biomass
            + org.contaminant_oxygen * contaminant_k * new_sugar * self.contaminant
        )
        oxygen_mol_h = oxygen_fraction * demand * volume / 1000.0 / O2_G_PER_MOL
        self._transfer_oxygen(transfer, demand, dt, org)
        self.offgas_co2 = offgas_co2_percent(org.respiratory_quotient * oxygen_mol_h, oxygen_mol_h, act.air_nm3_h)

        protons_mol_h = volume * (
            org.protons_per_biomass * growth * biomass
            + org.protons_per_product * production * biomass
            + org.contaminant_protons * contaminant_growth * self.contaminant
        )
        alkali_mol_h = act.base_l_h * vessel.base_mol_per_l - act.acid_l_h * vessel.acid_mol_per_l
        self.ph = self.ph + (alkali_mol_h - protons_mol_h) * dt / (org.buffer_capacity * volume)

        heat_kw = (
            oxygen_mol_h * org.heat_per_oxygen / 3600.0
            + power / 1000.0
            - act.cooling * vessel.cooling_ua_kw_per_k * (self.temperature - act.coolant_k)
            - evaporation * vessel.latent_heat_kj_per_kg / 3600.0
        )
        heat_capacity_kj_k = vessel.broth_density * vessel.heat_capacity * volume
        self.temperature = self.temperature + heat_kw * 3600.0 * dt / heat_capacity_kj_k

        hydrolysis = hydrolysis_rate(self.ph, self.temperature, org) + org.penicillinase * self.contaminant
        penicillin_g = (self.penicillin * volume + production * biomass * volume * dt) / (1.0 + hydrolysis * dt)
        self.penicillin = penicillin_g / new_volume
        self.biomass = biomass * volume * (1.0 + (growth - decay) * dt) / new_volume
        self.contaminant = self.contaminant * volume * (1.0 + contaminant_growth * dt) / new_volume
        self.sugar = new_sugar
        self.volume = new_volume
        self.saturation = oxygen_saturation(log_mean_pressure(new_volume, vessel))

    def _transfer_oxygen(self, transfer: FloatArray, demand: FloatArray, dt: float, org: Organism) -> None:
        """Exact solution of ``dC/dt = kLa (C* - C) - u C`` over the step, ``u C`` the uptake.

        The uptake, ``demand * C / (K + C)``, is linearised as proportional to C with
        the saturation term of the old concentration: stable at any kLa, and C stays
        positive when transfer cannot keep up with the demand.
        """
        uptake_per_oxygen = demand / (org.oxygen_half_saturation + self.oxygen)
        rate = transfer + uptake_per_oxygen
        equilibrium = transfer * self.saturation / rate
        self.oxygen = equilibrium + (self.oxygen - equilibrium) * np.exp(-rate * dt)
