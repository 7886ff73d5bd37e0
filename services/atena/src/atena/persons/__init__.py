"""People (住民・住登外者), their households, history and My Numbers."""
