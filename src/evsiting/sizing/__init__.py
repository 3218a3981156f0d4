"""Sizing: from daily public charging energy to DC fast and AC level-2 ports, their queueing and their cost (CNY)."""
