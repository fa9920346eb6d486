"""The composition root and the operator tools: the only code that wires the packages together."""
