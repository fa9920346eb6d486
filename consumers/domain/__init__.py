"""The pure domain: what happens to a ticket, its SLA clocks, who gets it, which metric
window counts it. No I/O here; the consumers read state, call these, and commit."""
