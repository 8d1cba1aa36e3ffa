"""Front door 3: management commands. `ops` runs any declared read or write; the others are friendlier spellings."""
