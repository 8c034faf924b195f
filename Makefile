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
	strace \
	procps \
	passwd

LIBS_PC =	libbsd-ctor libseccomp
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
	common/conf.c \
	common/imsg.c \
	common/log.c \
	common/privdrop.c \
	common/proc.c \
	common/sandbox.c

PARENT_SRCS = \
	parent/child.c \
	parent/parent.c \
	parent/setup.c

PRIV_SRCS = \
	priv/priv.c \
	priv/priv_sandbox.c \
	priv/spawner.c

API_SRCS = \
	api/api.c \
	api/api_sandbox.c

TUNNEL_SRCS = \
	tunnel/tunnel.c \
	tunnel/tunnel_sandbox.c

MTUNNELD_SRCS = $(COMMON_SRCS) $(PARENT_SRCS) $(PRIV_SRCS) $(API_SRCS) \
	$(TUNNEL_SRCS)
MTUNNELD_OBJS = $(MTUNNELD_SRCS:.c=.o)

UNIT_TESTS = \
	tests/unit/test_conf \
	tests/unit/test_imsg \
	tests/unit/test_sandbox \
	tests/unit/test_spawner

HEADERS = $(wildcard common/*.h parent/*.h priv/*.h api/*.h tunnel/*.h)

all: mtunneld

mtunneld: $(MTUNNELD_OBJS)
	$(CC) $(LDFLAGS) -o $@ $(MTUNNELD_OBJS) $(PC_LIBS)

%.o: %.c $(HEADERS)
	$(CC) $(CFLAGS) $(PC_CFLAGS) -c -o $@ $<

tests/unit/test_conf: tests/unit/test_conf.o common/conf.o
tests/unit/test_imsg: tests/unit/test_imsg.o common/imsg.o
tests/unit/test_sandbox: tests/unit/test_sandbox.o common/sandbox.o \
	common/log.o common/imsg.o api/api_sandbox.o priv/priv_sandbox.o \
	tunnel/tunnel_sandbox.o
tests/unit/test_spawner: tests/unit/test_spawner.o priv/spawner.o \
	common/log.o common/imsg.o common/proc.o

tests/unit/%.o: tests/unit/%.c $(HEADERS)
	$(CC) $(CFLAGS) $(PC_CFLAGS) $(TEST_CFLAGS) -Ipriv -Iapi -Itunnel \
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
	$(MAKE) mtunneld $(UNIT_TESTS)
	tests/run-unit $(UNIT_TESTS)
	tests/run-integration

install: mtunneld
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5
	install -m 0755 mtunneld $(DESTDIR)$(SBINDIR)/mtunneld
	install -m 0644 docs/mtunneld.8 $(DESTDIR)$(MANDIR)/man8/mtunneld.8
	install -m 0644 docs/mtunneld.conf.5 \
	    $(DESTDIR)$(MANDIR)/man5/mtunneld.conf.5
	@if [ -z "$(DESTDIR)" ]; then scripts/create-users; fi

clean:
	rm -f mtunneld $(MTUNNELD_OBJS) $(UNIT_TESTS) tests/unit/*.o

.PHONY: all check clean deps install
