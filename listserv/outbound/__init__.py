# SPDX-License-Identifier: Apache-2.0
"""Mail out: queueing copies, DMARC mitigation, DKIM and ARC, and delivery to the smarthost."""
