"""The platform's services and the stream each publishes on (its events are
`<stream>.<aggregate>.<verb>`): the one list a dev stack needs to forget a service's events."""

SERVICE_STREAMS = {
    "identity": "identity",
    "atena": "atena",
    "boshi_core": "boshi",
    "e_application": "eapp",
    "intermediate_server": "ims",
    "immunization_bridge": "immunization",
}
