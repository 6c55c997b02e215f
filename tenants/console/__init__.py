"""The staff console's tenancy pages: sign-in, organizations, projects, members, API keys.
Access rules live in tenants/console/access.py; memory and compliance pages are in
memory/console/ and audit/console/."""
