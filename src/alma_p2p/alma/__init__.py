"""Alma REST client, its typed errors and its typed models."""

from alma_p2p.alma.client import AlmaClient
from alma_p2p.alma.errors import (
    AlmaAPIError,
    AlmaBadRequest,
    AlmaConfigError,
    AlmaContractError,
    AlmaDailyLimitReached,
    AlmaError,
    AlmaForbidden,
    AlmaNotFound,
    AlmaRateLimited,
    AlmaServerError,
    AlmaTransportError,
    AlmaUnauthorized,
    ErrorDetail,
    NotAnAlmaGateway,
)
from alma_p2p.alma.gateway import REGION_HOSTS, build_base_url
from alma_p2p.alma.http import CallStats

__all__ = [
    "REGION_HOSTS",
    "AlmaAPIError",
    "AlmaBadRequest",
    "AlmaClient",
    "AlmaConfigError",
    "AlmaContractError",
    "AlmaDailyLimitReached",
    "AlmaError",
    "AlmaForbidden",
    "AlmaNotFound",
    "AlmaRateLimited",
    "AlmaServerError",
    "AlmaTransportError",
    "AlmaUnauthorized",
    "CallStats",
    "ErrorDetail",
    "NotAnAlmaGateway",
    "build_base_url",
]
