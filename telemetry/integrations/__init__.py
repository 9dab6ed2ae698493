"""One module per event source; each imports its library only when used."""
