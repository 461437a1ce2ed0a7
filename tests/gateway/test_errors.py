"""The gateway's own exceptions form one tree under GatewayError, each with its own code."""

from strangers.gateway.errors import GatewayError
from strangers.gateway.request_size import BodyTooLarge

from ..error_trees import check_tree, exception_classes


def test_every_gateway_exception_derives_from_gateway_error_with_a_unique_code() -> None:
    check_tree("strangers.gateway", GatewayError)
    assert BodyTooLarge in exception_classes("strangers.gateway")
