"""Pregnancy notifications (妊娠の届出), MCH handbooks (母子健康手帳),
prenatal checkups (妊婦健康診査)."""
