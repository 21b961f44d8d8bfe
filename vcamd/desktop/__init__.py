"""What a person touches: the tray icon and its menu, the icons, start at login."""
