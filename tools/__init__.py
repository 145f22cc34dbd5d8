"""Developer tools run from the project root (`python -m tools.NAME`); they may import every
package, and nothing imports them."""
