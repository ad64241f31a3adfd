"""Linking records to the pollution-source register (一源一档).

Every case, inspection, exceedance, complaint and project is joined to the register
entry it concerns: by its credit code, then its normalised name, then its name,
address and distance. Records that several entries fit about equally are never
linked; they are listed for review.
"""
