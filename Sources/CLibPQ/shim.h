// Exposes libpq's client API to Swift. Only the Postgres module imports this.
#include <libpq-fe.h>
