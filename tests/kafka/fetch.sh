#!/usr/bin/env bash
# Fetch the jars of the Apache Kafka 4.x test broker from Maven Central into a cache directory
# and print that directory. A warm cache costs nothing: a stamp file (Kafka version + pom hash)
# says the copy is complete; otherwise Maven runs offline first (jars already in ~/.m2) and goes
# online only if that fails.
#
#   tests/kafka/fetch.sh                 # default version, cache under $XDG_CACHE_HOME
#   KAFKA_VERSION=4.0.1 tests/kafka/fetch.sh
#   NEWSWATCH_KAFKA_JARS=/some/dir tests/kafka/fetch.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/pom.xml"
version="${KAFKA_VERSION:-$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")}"
cache="${NEWSWATCH_KAFKA_JARS:-${XDG_CACHE_HOME:-$HOME/.cache}/newswatch/kafka-$version}"
stamp="$cache/.complete"
want="$version $(sha256sum "$pom" | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$cache"
    exit 0
fi

command -v mvn >/dev/null || { echo "fetch.sh: mvn not found (apt-get install maven)" >&2; exit 3; }

tmp="$cache.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
mkdir -p "$tmp"
copy() {
    mvn -q -B -f "$pom" "$@" -Dkafka.version="$version" -DoutputDirectory="$tmp" \
        dependency:copy-dependencies >&2
}
if ! copy -o 2>/dev/null; then
    echo "fetch.sh: fetching Kafka $version jars from Maven Central" >&2
    copy
fi
ls "$tmp"/kafka_2.13-"$version".jar >/dev/null
echo "$want" > "$tmp/.complete"
rm -rf "$cache"
mv "$tmp" "$cache"
echo "$cache"
