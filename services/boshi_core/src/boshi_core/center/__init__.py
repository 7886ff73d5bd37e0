"""The child and family center (子ども家庭センター): cases, consultations, support plans."""
