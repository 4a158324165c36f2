# StreamingChat developer entry points. `make test` is what CI runs (through .ci/run).

SWIFT ?= swift
# Debian packages the C shims (CSodium, CLMDB) and CompressNIO (zlib) build against, and tmux
# (a real terminal emulator for the chat tests), Chromium and curl (the browser UI tests).
SYSTEM_PACKAGES := libsodium-dev liblmdb-dev pkg-config zlib1g-dev tmux chromium curl

.PHONY: demo test deps build release

## Install any missing system packages (needs root or sudo; skipped where dpkg is absent).
deps:
	@if ! command -v dpkg >/dev/null 2>&1; then \
		echo "dpkg not found: install $(SYSTEM_PACKAGES) (or their equivalents) yourself"; \
		exit 0; \
	fi; \
	missing=""; \
	for pkg in $(SYSTEM_PACKAGES); do \
		dpkg -s "$$pkg" >/dev/null 2>&1 || missing="$${missing:+$$missing }$$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing missing system packages: $$missing"; \
		sudo=""; \
		if [ "$$(id -u)" -ne 0 ]; then \
			if command -v sudo >/dev/null 2>&1; then sudo="sudo"; \
			else echo "not root and sudo is unavailable: install $$missing as root" >&2; exit 1; fi; \
		fi; \
		$$sudo apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

## Build everything in debug.
build: deps
	$(SWIFT) build

## Build everything in release.
release: deps
	$(SWIFT) build -c release

## Run the whole test suite: suites without sockets, daemons or browsers side by side, then the
## rest one at a time.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --filter '$(SELF_CONTAINED_SUITES)'
	@# One test at a time: these suites run whole nodes and daemon processes with bounded waits,
	@# and on a 2-core machine running them side by side starves the rest.
	$(SWIFT) test --skip-build --no-parallel --skip '$(SELF_CONTAINED_SUITES)'

# Test suites that open no socket and start no process (pure machines, codecs, the store, the
# traces, replicas in one process): they run in parallel. Any other suite runs alone.
SELF_CONTAINED_SUITES := ^(ChatCoreTests|ChatControlTests|ChatWireTests|ChatSyncTests|ChatStoreTests|ChatCryptoTests|ChatTracesTests|SystemLibraryTests)\.|^ChatNodeTests\.(NodeMachine[A-Za-z]*Tests|ManyAuthorsTests|ConversationReplicaTests|AdmissionTests|PublicJoinAdmissionsTests|MembershipDirectoryTests|PreparedBatchesTests|ControlResultsTests)\b

## Build the CLI in release and run its demo.
demo: deps
	$(SWIFT) build -c release --product streamingchat
	.build/release/streamingchat demo
