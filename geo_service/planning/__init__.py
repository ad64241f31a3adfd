"""Where inspectors go next: the audited risk-weighted draw and its backtest."""
