# SPDX-License-Identifier: Apache-2.0
"""What each kind of stored mail does: posts, commands, confirmations, bounces; and the
clock's work on held posts, digests and bounce scores. All of it in the caller's transaction."""
