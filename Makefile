# Makefile for pg_success, built with PGXS.
#
# make            build the module and the install script
# make install    install into the PostgreSQL found by PG_CONFIG
# make test       install packages if missing, build, install, run every suite
#                 in a throwaway cluster and print "N passed, N failed"
# make demo       the same set-up, then load the bundled data and run the
#                 automations on it

MODULE_big = pg_success
OBJS = \
	src/pg_success.o \
	src/spi_util.o \
	src/validation.o \
	src/phase_cache.o \
	src/history.o \
	src/owner_assignment.o \
	src/account_triggers.o \
	src/phase_transitions.o \
	src/worker_launcher.o \
	src/automation_worker.o \
	src/template.o \
	src/audience.o \
	src/email_queue.o \
	src/mail_message.o \
	src/smtp_client.o \
	src/mail_delivery.o \
	src/rule_parser.o \
	src/rule_cache.o \
	src/rule_definition.o \
	src/rule_facts.o \
	src/rule_eval.o \
	src/rule_actions.o \
	src/rule_firing.o \
	src/rule_triggers.o \
	src/rule_preview.o \
	src/rule_sweeps.o

EXTENSION = pg_success
DATA_built = pg_success--0.1.sql

# The install script is assembled from one SQL file per concern, in name order.
SCHEMA_PARTS = $(sort $(wildcard schema/*.sql))

PG_CONFIG ?= pg_config
PG_CPPFLAGS = -I$(srcdir)/src -Werror -Wall -Wmissing-prototypes
SHLIB_LINK = -lcjson -lcurl

EXTRA_CLEAN = tmp_check

# On a fresh machine the server headers may be missing until "make test"
# or "make demo" installs them, so those two targets work without PGXS.
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else
all install:
	@echo "PGXS not found: install postgresql-server-dev-15, or run make test as root" >&2
	@exit 1
endif

pg_success--0.1.sql: $(SCHEMA_PARTS)
	cat $(SCHEMA_PARTS) > $@

.PHONY: test demo
test:
	./scripts/run-tests.sh

demo:
	./scripts/run-demo.sh
