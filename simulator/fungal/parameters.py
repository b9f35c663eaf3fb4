"""Constants of the fungal fed-batch: the organism, the vessel and the recipe.

Sources are cited next to each number. "IndPenSim" is Goldrick et al. 2015
(*J. Biotechnol.* 193:70-82) and its published MATLAB parameter list;
"Bajpai & Reuss" is their 1980 penicillin model (*J. Chem. Technol. Biotechnol.*
30:332-344) as used in PenSim (Birol, Ündey & Çınar 2002, *Comput. Chem. Eng.*
26:1553-1565). Numbers marked *assumed* are choices of this model, with the
reason given.

>>> Organism().yield_biomass_on_sugar
0.5405...
>>> Vessel().cross_section_m2
13.854...
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Molar mass of oxygen (g/mol), to turn uptake in mg/L into mol.
O2_G_PER_MOL = 32.0

#: Molar volume of an ideal gas at 0 °C and 1.01325 bar (m³/mol): airflows are in normal m³.
NORMAL_M3_PER_MOL = 0.022414

#: Mole fractions of inlet air: O2 as in IndPenSim (O_2_in 0.21), CO2 at today's ~420 ppm.
AIR_O2_FRACTION = 0.21
AIR_CO2_FRACTION = 0.00042


@dataclass(frozen=True, slots=True)
class Organism:
    """Kinetic and stoichiometric constants of the production strain and of a bacterial contaminant."""

    # --- growth (Contois in sugar, so crowded mycelium grows slower: Bajpai & Reuss) ---
    mu_max: float = 0.092  # 1/h, Bajpai & Reuss
    contois: float = 0.15  # g sugar per g biomass, Bajpai & Reuss
    # Half-saturation of the oxygen uptake, mg/L. Assumed: makes growth fall steeply
    # below ~10 % air saturation, IndPenSim's critical DO for biomass (X_crit_DO2 0.1).
    oxygen_half_saturation: float = 0.3

    # --- product: formation inhibited by excess sugar (Bajpai & Reuss' Haldane term) ---
    # Specific rate at optimal sugar, g/(g h). Bajpai & Reuss' 0.005 describes a 1980
    # strain that reaches ~1.5 g/L; assumed 3.2x for an industrial strain, so that clean
    # batches reach 15-20 g/L by 230 h (a published IndPenSim batch: ~25 g/L at 216 h).
    q_product_max: float = 0.016
    product_saturation: float = 0.0002  # g/L, Bajpai & Reuss K_p
    product_inhibition: float = 0.1  # g/L, Bajpai & Reuss K_I: above ~0.1 g/L sugar, production falls
    # Penicillin synthesis needs more oxygen than growth: a tanh switch at 30 % air
    # saturation (IndPenSim P_crit_DO2 0.3), 6 % wide (IndPenSim's slope of 1 per mg/L
    # at its ~16 mg/L saturation).
    product_critical_do: float = 30.0
    product_do_width: float = 6.0
    # Hydrolysis of penicillin, IndPenSim's k4 = exp(B1 + B2 pH + B3 T + B4 pH² + B5 T²)
    # (1/h, T in K): 0.0026 1/h at pH 6.5 and 298 K, faster when warmer.
    hydrolysis: tuple[float, float, float, float, float] = (-64.29, -1.825, 0.3649, 0.1280, -4.9496e-4)

    # --- sugar: yields and maintenance (IndPenSim Y_sX 1.85, Y_sP 0.9, m_s 0.029) ---
    yield_biomass_on_sugar: float = 1 / 1.85  # g/g
    yield_product_on_sugar: float = 1 / 0.9  # g/g
    maintenance: float = 0.029  # g sugar/(g biomass h)
    # Sugar at which maintenance uptake is half-satisfied, g/L. Assumed; below it the
    # mycelium burns its own mass (endogenous respiration, Pirt 1965: decay = m_s Y_xs).
    maintenance_saturation: float = 0.005

    # --- oxygen (IndPenSim Y_O2_X 650 mg/g, Y_O2_P 160 mg/g, m_O2_X 17.5 mg/(g h)) ---
    oxygen_per_biomass: float = 0.650  # g O2/g
    oxygen_per_product: float = 0.160  # g O2/g
    oxygen_maintenance: float = 0.0175  # g O2/(g h)
    # Mol CO2 per mol O2: 1 for oxidation of carbohydrate to CO2 and water.
    respiratory_quotient: float = 1.0
    # Heat of aerobic metabolism per mol O2 consumed, kJ/mol (Cooney, Wang & Wang 1969,
    # *Biotechnol. Bioeng.* 11:269: 0.46 kJ/mmol O2, nearly organism-independent).
    heat_per_oxygen: float = 460.0

    # --- environment (IndPenSim's forms and constants) ---
    ph_k1: float = 1e-5  # mol/L: growth falls when [H+] approaches it (pH < ~5.5)
    ph_k2: float = 2.5e-8  # mol/L: growth falls when [H+] approaches it (pH > ~7.5)
    # Arrhenius growth minus thermal denaturation, k_g exp(-E_g/RT) - k_d exp(-E_d/RT):
    # 1.00 at 298 K, 0.89 at 303 K, 0.31 at 308 K, 0 from ~309.5 K.
    growth_prefactor: float = 450.0
    growth_activation: float = 1.488e4  # J/mol
    death_prefactor: float = 2.5e29
    death_activation: float = 1.7325e5  # J/mol

    # --- protons released into the broth (mol/g), for the pH balance ---
    # Assimilating ammonium releases about one H+ per N; mycelium is ~7 % N (0.005 mol N/g)
    # and excretes some organic acid: assumed 0.006 mol H+ per g biomass formed.
    protons_per_biomass: float = 0.006
    # Taking up the side-chain precursor phenylacetic acid (one per penicillin G,
    # 334 g/mol) removes about one H+: -0.003 mol per g penicillin. Assumed; it is why
    # late, slow-growing broth drifts alkaline and needs acid, as in IndPenSim.
    protons_per_product: float = -0.003
    # Buffer capacity of the medium, mol/(L pH). Assumed, typical of complex media with
    # phosphate and corn-steep liquor (20-50 mmol/(L pH)).
    buffer_capacity: float = 0.03

    # --- broth rheology ---
    # Apparent viscosity of mycelial broth rises steeply with biomass (quadratic here),
    # cP per (g/L)². Assumed; gives ~45 cP at 25 g/L, the order a published IndPenSim
    # batch reaches near harvest (~70 cP at 215 h); it cuts kLa several-fold.
    viscosity_per_biomass2: float = 0.07

    # --- bacterial contaminant (penicillin-resistant, penicillinase-producing) ---
    # Doubling in ~50 min (domain notes: "doubling in under an hour").
    contaminant_mu_max: float = 0.8  # 1/h
    contaminant_saturation: float = 0.05  # g/L sugar, assumed: bacteria scavenge low sugar well
    contaminant_yield: float = 0.4  # g/g sugar, assumed, typical aerobic bacterial yield
    contaminant_oxygen: float = 1.0  # g O2/g formed, assumed (about 1 for aerobic bacteria)
    # Organic acids (lactate/acetate) excreted: 0.01 mol H+ per g formed, assumed.
    contaminant_protons: float = 0.01
    # Penicillinase: L/(g h) of contaminant; a 1 g/L contaminant destroys 5 %/h of the product. Assumed.
    penicillinase: float = 0.05


@dataclass(frozen=True, slots=True)
class Vessel:
    """Geometry, drives and utilities of a 100 m³ stirred fermenter (IndPenSim's size)."""

    radius_m: float = 2.1  # IndPenSim r
    impellers: int = 3  # IndPenSim n_imp
    power_number: float = 5.0  # Rushton turbine, as IndPenSim's Po
    # Assumed D/T = 0.33, the usual Rushton ratio (IndPenSim uses 1.7 m; with 1.4 m
    # the gassed power stays within 1-6 kW/m³, typical of large fermenters).
    impeller_diameter_m: float = 1.4
    head_pressure_bar: float = 0.7  # gauge; IndPenSim's recipe runs 0.6-0.9 bar
    broth_density: float = 1.05  # kg/L, assumed (IndPenSim: 1.1 kg/L plus solids)
    heat_capacity: float = 4.18  # kJ/(kg K), water (IndPenSim C_pw)
    # Cooling: jacket and coils, kW/K at a fully open valve. Assumed: with coolant at
    # 285 K it removes ~1 MW, the heat of full agitation (0.35-0.45 MW gassed) plus peak
    # metabolism (~0.3 MW) with margin; clean batches need ~0.2 MW.
    cooling_ua_kw_per_k: float = 75.0
    coolant_inlet_k: float = 285.0  # IndPenSim Tcin
    latent_heat_kj_per_kg: float = 2430.7  # evaporation of water, IndPenSim
    # IndPenSim's evaporation, F = V alpha (exp(2.5 (T - 273)/(373 - 273)) - 1) L/h:
    # about 0.045 % of the volume per hour at 298 K.
    evaporation_alpha: float = 5.24e-4
    # Drives: agitator 60-130 rpm (IndPenSim runs 100 rpm), air 25-75 normal m³/min,
    # 0.3-1.3 vvm over the batch (IndPenSim's aeration recipe spans 30-75).
    agitation_min_rpm: float = 60.0
    agitation_max_rpm: float = 130.0
    air_min_nm3_h: float = 1500.0
    air_max_nm3_h: float = 4500.0
    # Pumps (L/h). Feed up to 800 L/h so that a runaway pump can deliver several times
    # the recipe; 2 mol/L ammonia water as base, 1 mol/L sulphuric acid (2 mol H+/L).
    feed_pump_max_l_h: float = 800.0
    base_pump_max_l_h: float = 250.0
    acid_pump_max_l_h: float = 100.0
    base_mol_per_l: float = 2.0
    acid_mol_per_l: float = 2.0
    # The feed is interlocked off above this volume, leaving headspace for foam. Assumed.
    max_working_volume_l: float = 92_000.0

    @property
    def cross_section_m2(self) -> float:
        """Liquid surface area (m²)."""
        return math.pi * self.radius_m**2


@dataclass(frozen=True, slots=True)
class Recipe:
    """Set points, the nominal start of a batch, and the operating procedures."""

    temperature_k: float = 298.0  # 25 °C, IndPenSim's set point
    ph: float = 6.5  # IndPenSim's set point
    ph_deadband: float = 0.05  # IndPenSim switches acid/base at +-0.05
    do_floor: float = 40.0  # % air saturation, assumed: a margin above the 30 % product threshold
    # Sugar feed, g/L. Assumed 500 g/L where IndPenSim feeds 600 g/L sugar plus oil,
    # phenylacetic acid and water streams that this model leaves out: the more dilute
    # sugar carries about the volume those streams add.
    sugar_feed_g_l: float = 500.0
    # Sugar-feed profile, (hours after the feed starts, L/h), linear in between. Shaped
    # like IndPenSim's recipe (a ramp over the first ~40 h of feeding, then a plateau
    # falling slowly), scaled so that the mycelium grows on 0.3-0.5 g/L sugar until
    # ~150 h, is sugar-limited (~0.05 g/L) afterwards, and the volume reaches 75-80 m³.
    feed_profile: tuple[tuple[float, float], ...] = (
        (0.0, 36.0),
        (15.0, 66.0),
        (40.0, 108.0),
        (70.0, 132.0),
        (120.0, 126.0),
        (190.0, 120.0),
    )
    initial_volume_l: float = 58_000.0  # IndPenSim V0 5.8e4 L
    initial_biomass: float = 0.5  # g/L, IndPenSim's inoculum (~0.5 g/L)
    # Batch sugar, g/L. Assumed: carries the batch phase to sugar exhaustion at ~35 h,
    # before the feed starts at ~40 h.
    initial_sugar: float = 15.0
    initial_do: float = 100.0  # % air saturation: medium saturated before inoculation
    # Lab samples (offline biomass): every 4 h, 2 L each with the line purge. Assumed.
    lab_interval_h: float = 4.0
    lab_sample_l: float = 2.0

    @property
    def lab_minutes(self) -> int:
        """Minutes between lab samples."""
        return round(self.lab_interval_h * 60.0)
