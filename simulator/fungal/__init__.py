"""A second process family: an industrial fungal (Penicillium-like) fed-batch, independent of the CHO model.

The model follows the structure of IndPenSim (Goldrick et al. 2015, *J. Biotechnol.*
193:70-82) in a simplified, unstructured form: a 100 m³ vessel at 25 °C and pH 6.5,
Contois growth on sugar, penicillin formation inhibited by excess sugar, an
aeration/agitation cascade holding a dissolved-oxygen floor, and a sugar feed from
about 40 h. Nothing here shares a kinetic assumption with the CHO simulator.

Modules, one concept each:

- :mod:`~simulator.fungal.parameters` — organism, vessel and recipe constants, with sources;
- :mod:`~simulator.fungal.kinetics` — specific rates of growth, production and their modifiers;
- :mod:`~simulator.fungal.gas` — power input, kLa, oxygen solubility, off-gas and evaporation;
- :mod:`~simulator.fungal.broth` — the state of the broth and one integration step of its balances;
- :mod:`~simulator.fungal.control` — DO cascade, split-range pH loop, jacket cooling loop;
- :mod:`~simulator.fungal.feeding` — the sugar-feed recipe and the operator's trims;
- :mod:`~simulator.fungal.faults` — the fault types, their signatures and random draws;
- :mod:`~simulator.fungal.sensors` — probe lag, probe drift and measurement noise;
- :mod:`~simulator.fungal.simulation` — batches and fault-free twins advancing together;
- :mod:`~simulator.fungal.dataset` — random campaigns and the plant-historian CSV export;
- :mod:`~simulator.fungal.cli` — the ``bioreactor generate-fungal`` command.
"""
