"""Cache aliases: what each holds and how full it is (inventory), and scoped clearing (clearing, writes)."""
