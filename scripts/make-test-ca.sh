#!/bin/sh
# make-test-ca.sh DIR: a throwaway CA and a server certificate for
# 127.0.0.1 and localhost, for tests and demos only.
#
# Writes DIR/ca.pem, DIR/ca.key, DIR/server.pem, DIR/server.key, and
# DIR/ca.d/ (the CA in an `openssl rehash` folder, for localproxy).
# Keys are EC P-256, valid 2 days; DIR is created mode 700.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
umask 077
mkdir -p "$dir/ca.d"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$dir/ca.key" -out "$dir/ca.pem" -days 2 \
	-subj "/CN=iot-ssh-proxy test CA" \
	-addext "basicConstraints=critical,CA:TRUE" \
	-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$dir/server.key" -out "$dir/server.csr" \
	-subj "/CN=localhost" 2>/dev/null

cat > "$dir/server.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
EXT
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" \
	-CAkey "$dir/ca.key" -CAcreateserial -out "$dir/server.pem" \
	-days 2 -extfile "$dir/server.ext" 2>/dev/null
rm -f "$dir/server.csr" "$dir/server.ext" "$dir/ca.srl"

chmod 644 "$dir/ca.pem" "$dir/server.pem"
cp "$dir/ca.pem" "$dir/ca.d/ca.pem"
openssl rehash "$dir/ca.d" 2>/dev/null || true
echo "$dir"
