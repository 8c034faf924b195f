# mtunneld: plain GNU make.  `make`, `make check`, `make install`.

PREFIX ?=	/usr/local
SBINDIR ?=	$(PREFIX)/sbin
MANDIR ?=	$(PREFIX)/share/man
DESTDIR ?=

CC ?=		cc
PKG_CONFIG ?=	pkg-config

# Debian 12 packages that the build and the tests need.
DEB_PACKAGES = \
	build-essential \
	pkg-config \
	libbsd-dev \
	libseccomp-dev \
	libcmocka-dev \
	libjansson-dev \
	libssl-dev \
	libwebsockets-dev \
	openssl \
	socat \
	strace \
	procps \
	passwd \
	curl \
	jq \
	python3 \
	qemu-utils \
	qemu-system-x86 \
	ovmf

LIBS_PC =	libbsd-ctor libseccomp libssl libcrypto jansson libwebsockets
TEST_PC =	cmocka

WARNINGS =	-Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual \
		-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
ifneq ($(CI),)
WARNINGS +=	-Werror
endif

CFLAGS ?=	-O2 -g
CFLAGS +=	-std=gnu11 $(WARNINGS) -D_GNU_SOURCE -Icommon \
		-fstack-protector-strong -D_FORTIFY_SOURCE=2
PC_CFLAGS =	$(shell $(PKG_CONFIG) --cflags $(LIBS_PC))
PC_LIBS =	$(shell $(PKG_CONFIG) --libs $(LIBS_PC))
TEST_CFLAGS =	$(shell $(PKG_CONFIG) --cflags $(TEST_PC))
TEST_LIBS =	$(shell $(PKG_CONFIG) --libs $(TEST_PC))

COMMON_SRCS = \
	common/acl.c \
	common/auditlog.c \
	common/cert.c \
	common/conf.c \
	common/imsg.c \
	common/log.c \
	common/netdev.c \
	common/privdrop.c \
	common/proc.c \
	common/qemuargs.c \
	common/qmp.c \
	common/sandbox.c \
	common/storagecfg.c \
	common/token.c \
	common/usercfg.c \
	common/vmconfig.c

PARENT_SRCS = \
	parent/audit.c \
	parent/auth.c \
	parent/child.c \
	parent/parent.c \
	parent/query.c \
	parent/request.c \
	parent/setup.c \
	parent/ticket.c \
	parent/tunnelreq.c \
	parent/upid.c

PRIV_SRCS = \
	priv/config.c \
	priv/import.c \
	priv/journal.c \
	priv/priv.c \
	priv/priv_sandbox.c \
	priv/qemu.c \
	priv/sock.c \
	priv/spawner.c \
	priv/vmproc.c \
	priv/volume.c

API_SRCS = \
	api/api.c \
	api/api_auth.c \
	api/api_sandbox.c \
	api/http.c \
	api/ws.c \
	api/wsguard.c

TUNNEL_SRCS = \
	tunnel/commands.c \
	tunnel/control.c \
	tunnel/schema.c \
	tunnel/tunnel.c \
	tunnel/tunnel_sandbox.c

MTUNNELD_SRCS = $(COMMON_SRCS) $(PARENT_SRCS) $(PRIV_SRCS) $(API_SRCS) \
	$(TUNNEL_SRCS)
MTUNNELD_OBJS = $(MTUNNELD_SRCS:.c=.o)

CTL_SRCS = \
	ctl/audit.c \
	ctl/mtunnelctl.c \
	ctl/vm.c
CTL_OBJS = $(CTL_SRCS:.c=.o) $(COMMON_SRCS:.c=.o)

TOOLS = \
	tests/tools/privdrive \
	tests/tools/qmpcall \
	tests/tools/usink \
	tests/tools/wstool

UNIT_TESTS = \
	tests/unit/test_acl \
	tests/unit/test_auditlog \
	tests/unit/test_cert \
	tests/unit/test_client \
	tests/unit/test_conf \
	tests/unit/test_imsg \
	tests/unit/test_journal \
	tests/unit/test_qemuargs \
	tests/unit/test_qmp \
	tests/unit/test_sandbox \
	tests/unit/test_spawner \
	tests/unit/test_storagecfg \
	tests/unit/test_ticket \
	tests/unit/test_token \
	tests/unit/test_tunnel \
	tests/unit/test_upid \
	tests/unit/test_usercfg \
	tests/unit/test_vmconfig \
	tests/unit/test_volume \
	tests/unit/test_wsguard

HEADERS = $(wildcard common/*.h parent/*.h priv/*.h api/*.h tunnel/*.h \
	ctl/*.h client/*.h)

all: mtunneld mtunnelctl mtunnel-migrate

CLIENT_SRCS = \
	client/args.c \
	client/live.c \
	client/migrate.c \
	client/net.c \
	client/progress.c \
	client/relay.c \
	client/source.c
CLIENT_OBJS = $(CLIENT_SRCS:.c=.o) common/qmp.o common/vmconfig.o \
	common/storagecfg.o common/log.o common/imsg.o common/conf.o

mtunnel-migrate: $(CLIENT_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(CLIENT_OBJS) $(PC_LIBS)

mtunnelctl: $(CTL_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(CTL_OBJS) $(PC_LIBS)

tests/tools/privdrive: tests/tools/privdrive.o common/imsg.o common/log.o \
	common/proc.o common/auditlog.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PC_LIBS)

tests/tools/qmpcall: tests/tools/qmpcall.o common/qmp.o common/log.o \
	common/imsg.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PC_LIBS)

tests/tools/usink: tests/tools/usink.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PC_LIBS)

tests/tools/wstool: tests/tools/wstool.o
	$(CC) $(LDFLAGS) -o $@ $^ $(PC_LIBS)

tests/tools/%.o: tests/tools/%.c $(HEADERS)
	$(CC) $(CFLAGS) $(PC_CFLAGS) -c -o $@ $<

mtunneld: $(MTUNNELD_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(MTUNNELD_OBJS) $(PC_LIBS)

%.o: %.c $(HEADERS)
	$(CC) $(CFLAGS) $(PC_CFLAGS) -c -o $@ $<

tests/unit/test_acl: tests/unit/test_acl.o common/acl.o common/usercfg.o \
	common/log.o common/imsg.o
tests/unit/test_auditlog: tests/unit/test_auditlog.o common/auditlog.o \
	common/log.o common/imsg.o
tests/unit/test_qemuargs: tests/unit/test_qemuargs.o common/qemuargs.o \
	common/vmconfig.o common/storagecfg.o common/log.o common/imsg.o
tests/unit/test_qmp: tests/unit/test_qmp.o common/qmp.o \
	common/log.o common/imsg.o
tests/unit/test_cert: tests/unit/test_cert.o common/cert.o common/log.o \
	common/imsg.o
tests/unit/test_client: tests/unit/test_client.o client/args.o client/net.o \
	client/relay.o client/progress.o common/storagecfg.o common/log.o \
	common/imsg.o
tests/unit/test_conf: tests/unit/test_conf.o common/conf.o \
	common/storagecfg.o common/log.o common/imsg.o
tests/unit/test_imsg: tests/unit/test_imsg.o common/imsg.o
tests/unit/test_journal: tests/unit/test_journal.o priv/journal.o \
	common/auditlog.o common/log.o common/imsg.o
tests/unit/test_sandbox: tests/unit/test_sandbox.o common/sandbox.o \
	common/log.o common/imsg.o api/api_sandbox.o priv/priv_sandbox.o \
	tunnel/tunnel_sandbox.o
tests/unit/test_spawner: tests/unit/test_spawner.o priv/spawner.o \
	common/log.o common/imsg.o common/proc.o common/auditlog.o
tests/unit/test_storagecfg: tests/unit/test_storagecfg.o common/storagecfg.o \
	common/log.o common/imsg.o
tests/unit/test_ticket: tests/unit/test_ticket.o parent/ticket.o \
	common/log.o common/imsg.o
tests/unit/test_token: tests/unit/test_token.o common/token.o \
	common/log.o common/imsg.o
tests/unit/test_tunnel: tests/unit/test_tunnel.o tunnel/commands.o \
	tunnel/schema.o tunnel/control.o tunnel/tunnel_sandbox.o \
	common/sandbox.o common/vmconfig.o common/qemuargs.o \
	common/storagecfg.o \
	common/log.o common/imsg.o
tests/unit/test_upid: tests/unit/test_upid.o parent/upid.o
tests/unit/test_usercfg: tests/unit/test_usercfg.o common/usercfg.o \
	common/log.o common/imsg.o
tests/unit/test_vmconfig: tests/unit/test_vmconfig.o common/vmconfig.o \
	common/storagecfg.o common/log.o common/imsg.o
tests/unit/test_volume: tests/unit/test_volume.o priv/config.o \
	priv/import.o priv/journal.o priv/sock.o priv/vmproc.o priv/volume.o \
	common/netdev.o common/qemuargs.o common/auditlog.o \
	common/storagecfg.o common/vmconfig.o common/log.o common/imsg.o
tests/unit/test_wsguard: tests/unit/test_wsguard.o api/wsguard.o \
	common/log.o common/imsg.o

tests/unit/%.o: tests/unit/%.c $(HEADERS)
	$(CC) $(CFLAGS) $(PC_CFLAGS) $(TEST_CFLAGS) -Ipriv -Iapi -Itunnel \
	    -Iparent \
	    -c -o $@ $<

$(UNIT_TESTS):
	$(CC) $(LDFLAGS) -o $@ $^ $(PC_LIBS) $(TEST_LIBS)

# Install the Debian packages that are missing (root, Debian 12).
deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
		    grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y \
		    --no-install-recommends $$missing; \
	fi

check: deps
	$(MAKE) mtunneld mtunnelctl mtunnel-migrate $(TOOLS) $(UNIT_TESTS)
	tests/run-unit $(UNIT_TESTS)
	tests/run-integration

# A live migration of a small VM on loopback (root, Debian 12).
demo: deps
	$(MAKE) mtunneld mtunnelctl mtunnel-migrate $(TOOLS)
	scripts/create-users
	scripts/demo

# Benchmarks: writes docs/benchmarks.md and docs/benchmarks.json.
bench: deps
	$(MAKE) mtunneld mtunnelctl mtunnel-migrate $(TOOLS)
	scripts/create-users
	bench/run

install: mtunneld mtunnelctl mtunnel-migrate
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5
	install -m 0755 mtunneld $(DESTDIR)$(SBINDIR)/mtunneld
	install -m 0755 mtunnelctl $(DESTDIR)$(SBINDIR)/mtunnelctl
	install -m 0755 mtunnel-migrate $(DESTDIR)$(SBINDIR)/mtunnel-migrate
	install -m 0644 docs/mtunneld.8 $(DESTDIR)$(MANDIR)/man8/mtunneld.8
	install -m 0644 docs/mtunnelctl.8 $(DESTDIR)$(MANDIR)/man8/mtunnelctl.8
	install -d $(DESTDIR)$(MANDIR)/man1
	install -m 0644 docs/mtunnel-migrate.1 \
	    $(DESTDIR)$(MANDIR)/man1/mtunnel-migrate.1
	install -m 0644 docs/mtunneld.conf.5 \
	    $(DESTDIR)$(MANDIR)/man5/mtunneld.conf.5
	@if [ -z "$(DESTDIR)" ]; then scripts/create-users; fi

clean:
	rm -f mtunneld mtunnelctl mtunnel-migrate $(MTUNNELD_OBJS) \
	    $(CTL_OBJS) $(CLIENT_OBJS) $(TOOLS) \
	    $(UNIT_TESTS) tests/unit/*.o tests/tools/*.o

.PHONY: all bench check clean demo deps install
