"""The demo world: simulated Shopify, WMS, ERP and CRM with real lag, faults and their ground truth."""
