"""Patrols (一日双巡): grid workers check in at buildings on their rounds."""
