"""Part 2's routers, for main.create_app to include: infant checkups and the center."""

from fastapi import APIRouter

from boshi_core.center.router import router as center_router
from boshi_core.checkups.router import router as checkups_router

routers: list[APIRouter] = [checkups_router, center_router]
