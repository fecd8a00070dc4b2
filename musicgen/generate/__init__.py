"""Generation: seeding, running the network on its own output, and writing songs."""
