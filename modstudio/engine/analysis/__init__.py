"""Analysis of a trained network (``modstudio analyze`` and the GUI's Analysis panel).

costs (torch-free): parameters and FLOPs per node and module; tables: text tables; modularity:
weight-graph communities and Newman's Q vs shuffled twins; specialization: class x expert
NMI and ensemble disagreement; report: all of it for one run, saved as ``analysis.json``.
Import the submodules you need: costs and tables do not load torch.
"""
