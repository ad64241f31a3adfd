"""What every room uses and that uses no room: settings, errors, paths, filters, logging."""
