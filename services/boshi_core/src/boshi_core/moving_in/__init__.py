"""Families moving in: the previous city's checkup records, asked through the intermediate
server (item 95) and kept with their source and date."""
