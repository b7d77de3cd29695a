"""What a release is judged by: the iteration count it is judged at, the gate weights must pass to ship, and the
campaign's goal, which the card reports (golfdeblur/release.py applies them; docs/TRAINING_CAMPAIGN.md says why).

Free of torch, so that the command line can build its help (which names these) without importing it.
"""

from __future__ import annotations

#: The first release's name, and ``golfdeblur release``'s default --name: new weights need a new one.
RELEASE_NAME = "golf-synthetic-v1"
GATE_T = 3
GATE_RULE = f"G > blurry and Golf T={GATE_T} > blurry"
GOAL_RULE = f"Golf T={GATE_T} > G > blurry"
