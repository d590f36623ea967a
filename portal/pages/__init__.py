"""The portal's pages, one module per area (sign-in, assets, bulk upload, federation)."""
