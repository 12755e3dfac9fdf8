"""Who gets a lead once its account is decided."""
