#!/bin/sh
# Entry point of the MCH image: MCH_SERVICE chooses the service, $1 the command.
set -eu

command="${1:-serve}"
[ "$#" -gt 0 ] && shift

need_service() {
    if [ -z "${MCH_SERVICE:-}" ]; then
        echo "mch-entrypoint: set MCH_SERVICE (identity, atena, boshi_core, e_application," \
             "intermediate_server or immunization_bridge)" >&2
        exit 64
    fi
}

case "$command" in
    serve)
        need_service
        # TLS_CERT_FILE / TLS_KEY_FILE (Kubernetes: cert-manager's Secret, see
        # k8s/config.yaml mch-tls-env): serve HTTPS; unset (docker-compose): plain HTTP.
        if [ -n "${TLS_CERT_FILE:-}" ]; then
            set -- --ssl-certfile "$TLS_CERT_FILE" --ssl-keyfile "${TLS_KEY_FILE:?TLS_KEY_FILE}" "$@"
        fi
        # Proxy headers: behind an ingress or load balancer, logs and redirects use the
        # client's scheme and address. --timeout-graceful-shutdown stays under Kubernetes'
        # default 30 s termination grace period. mch_common.serve is uvicorn with the
        # services' JSON log configuration (uvicorn's own lines included).
        exec python -m mch_common.serve --factory "${MCH_SERVICE}.main:create_app" \
            --host 0.0.0.0 --port "${PORT:-8000}" \
            --proxy-headers --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}" \
            --no-access-log --timeout-graceful-shutdown 20 "$@"
        ;;
    migrate)
        need_service
        exec python /opt/mch/share/mch-migrate.py "$MCH_SERVICE" "$@"
        ;;
    healthcheck)
        # The image's HEALTHCHECK: liveness of the local server, over HTTPS when it serves
        # TLS (its certificate names the Service, not 127.0.0.1: not verified here).
        exec python - <<'PY'
import os, ssl, sys, urllib.request
scheme = "https" if os.environ.get("TLS_CERT_FILE") else "http"
url = f"{scheme}://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz"
context = ssl._create_unverified_context() if scheme == "https" else None
try:
    urllib.request.urlopen(url, timeout=3, context=context)
except Exception as exc:
    sys.exit(f"unhealthy: {type(exc).__name__}")
PY
        ;;
    seed)
        need_service
        exec python -m "${MCH_SERVICE}.seed" "$@"
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
