# SPDX-License-Identifier: Apache-2.0
"""The database: models, engine, migrations and queries."""
