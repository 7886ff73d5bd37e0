"""The MCH system (母子保健システム): pregnancies, handbooks, prenatal checkups, births, visits."""
