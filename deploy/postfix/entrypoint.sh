#!/bin/sh
# Start Postfix for listserv: fill in this site's names from the environment,
# write the transport map that sends each list domain to listserv by LMTP, and
# run Postfix in the foreground (PID 1, logging to stdout).
#
#   POSTFIX_HOSTNAME     this MTA's name, e.g. mx.example.com (required)
#   LIST_DOMAINS         the list domains, space- or comma-separated (required)
#   POSTFIX_MYNETWORKS   clients that may relay anywhere (required): listserv's network
#   LISTSERV_LMTP        listserv's LMTP listener (default inet:listserv:8024)
#   POSTFIX_TLS_CERT_FILE, POSTFIX_TLS_KEY_FILE   a certificate for STARTTLS (optional)
set -eu

config="${MAIL_CONFIG:-/etc/postfix}"
domains=$(echo "${LIST_DOMAINS:?set LIST_DOMAINS, e.g. lists.example.com}" | tr ',' ' ')

postconf -e \
    "myhostname = ${POSTFIX_HOSTNAME:?set POSTFIX_HOSTNAME, e.g. mx.example.com}" \
    "mynetworks = ${POSTFIX_MYNETWORKS:?set POSTFIX_MYNETWORKS to the network listserv sends from}" \
    "relay_domains = $domains"
if [ -n "${POSTFIX_TLS_CERT_FILE:-}" ]; then
    postconf -e "smtpd_tls_cert_file = $POSTFIX_TLS_CERT_FILE" \
        "smtpd_tls_key_file = ${POSTFIX_TLS_KEY_FILE:?set POSTFIX_TLS_KEY_FILE too}"
else
    # A self-signed certificate of this container's own (kept if there is one).
    make-ssl-cert generate-default-snakeoil
fi

: > "$config/transport"
for domain in $domains; do
    printf '%s lmtp:%s\n' "$domain" "${LISTSERV_LMTP:-inet:listserv:8024}" >> "$config/transport"
done
postmap "$config/transport"

exec postfix start-fg
