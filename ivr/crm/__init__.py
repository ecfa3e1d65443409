"""The customer's CRM: the OMniLeads identification protocol, and a client that never hangs."""
