"""Live queries: the sessions of this database now, who blocks whom, connection totals; cancel and terminate."""
