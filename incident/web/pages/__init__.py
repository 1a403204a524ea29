"""One module per page of the staff web app."""
