# SPDX-License-Identifier: Apache-2.0
"""The pure core: plain functions on plain values, no I/O, no clock, no database."""
