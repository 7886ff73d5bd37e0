"""Rules as data: versioned rules with effective dates, added by boshi:rules:admin staff."""
