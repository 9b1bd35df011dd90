"""`mcutrain plan`: choosing a training plan for a model, data and SRAM budget.

budget.py        the budget argument ("128KB", "96kb", "98304") as bytes
float_twin.py    the int8 graph's fp32 twin in TensorFlow, trained in batches for the analysis
contribution.py  the contribution analysis: accuracy gain of each candidate update
cost.py          predicted instructions of a training step (the firmware's measured costs per MAC)
search.py        the seeded evolutionary search under the memory model
report.py        the table, CSV and plots
"""
