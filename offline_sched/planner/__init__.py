"""Planning the day in time: slots, replicas powered on, idle power, carbon and price."""
